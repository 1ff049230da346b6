"""Run a flow on pandas: each data node's operator (:mod:`.operators`) applied to its inputs' frames, every
node at most once, in dependency order. ``sample_rows`` makes each source read only its first rows (the
preview's sample); None reads the whole data set (an export's run).

An operator's failure becomes a ValidationError naming the node and the operator, with the operator's own
message (a missing column, a bad parameter, the user's code's exception)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..errors import ValidationError
from .flow import Flow
from .operators import OPERATORS

Frames = dict[tuple[str, str], Any]   # (node_id, output_name) -> pandas DataFrame

DEFAULT_SAMPLE_ROWS = 50_000  # Data Wrangler's default interactive sample


class Run:
    """One evaluation of a flow; frames computed so far are kept (a preview of node B after node A reuses A)."""

    def __init__(self, flow: Flow, *, sample_rows: int | None = DEFAULT_SAMPLE_ROWS,
                 locate: Callable[[str], str | None] | None = None, s3_client: Any = None):
        self.flow = flow
        self.sample_rows = sample_rows
        self.locate = locate
        self.s3_client = s3_client
        self.frames: Frames = {}

    def frame(self, node_id: str, output: str = "default"):
        """The frame of one node's output (computing what it needs)."""
        node = self.flow.nodes.get(node_id)
        if node is None:
            raise ValidationError(f"No node {node_id!r} in the flow; its nodes: {', '.join(self.flow.nodes)}.")
        if node.is_analysis:
            raise ValidationError(f"Node {node_id!r} is an analysis ({node.operator}); preview its input "
                                  f"{node.inputs[0][0]!r} or run `shipyard wrangle report`.")
        if output not in node.outputs:
            raise ValidationError(f"Node {node_id!r} has outputs {node.outputs}, not {output!r}.")
        if (node_id, output) not in self.frames:
            self._compute(node_id)
        return self.frames[(node_id, output)]

    def _compute(self, node_id: str) -> None:
        stack = [node_id]
        pending: list[str] = []
        while stack:  # the node and the ancestors not computed yet, then run them in flow order
            current = stack.pop()
            if current in pending or any((current, o) in self.frames for o in self.flow.nodes[current].outputs):
                continue
            pending.append(current)
            stack.extend(parent for parent, _ in self.flow.nodes[current].inputs)
        for current in self.flow.order():
            if current in pending:
                self._run_node(current)

    def _run_node(self, node_id: str) -> None:
        node = self.flow.nodes[node_id]
        op = OPERATORS[node.operator]
        inputs = [self.frames[src] for src in node.inputs]
        kwargs: dict[str, Any] = dict(node.parameters)
        if op.inputs == 0:
            kwargs.update(sample_rows=self.sample_rows, locate=self.locate, s3_client=self.s3_client)
        try:
            result = op.load()(*inputs, trained_parameters=node.trained_parameters or None, **kwargs)
        except ValidationError:
            raise
        except ValueError as e:
            raise ValidationError(f"Flow node {node_id!r} ({node.operator}): {e}") from None
        except Exception as e:  # noqa: BLE001 - user code and data: say which node failed and how
            raise ValidationError(f"Flow node {node_id!r} ({node.operator}) failed: {type(e).__name__}: {e}") from None
        for output in node.outputs:
            if output not in result:
                raise ValidationError(f"Flow node {node_id!r} ({node.operator}) produced outputs {list(result)}, "
                                      f"not {output!r}; fix the node's outputs.")
            self.frames[(node_id, output)] = result[output]

    def outputs(self, targets: Iterable[tuple[str, str]] | None = None) -> Frames:
        """The frames of ``targets`` (default: every output nothing else reads)."""
        return {t: self.frame(*t) for t in (targets if targets is not None else self.flow.outputs_of())}
