"""The compilation job's program: ``python -m shipyard.compile.job --model-dir DIR --framework F
--data-input-config JSON --target TARGET --out DIR [--compiler-options JSON]``.

Exit 0 with ``model.onnx`` and ``compilation.json`` in ``--out``; otherwise ``failure`` in ``--out`` holds one
line (``ClientError: ...`` when the model or request is at fault, ``ServerError: ...`` for anything else) and
the exit status is 2 (client) or 1 (server).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ValidationError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shipyard.compile.job", description=__doc__)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--framework", required=True)
    p.add_argument("--data-input-config", default="")
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--compiler-options", default="")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from .core import compile_model

        report = compile_model(args.model_dir, args.framework, args.data_input_config, args.target, out,
                               args.compiler_options)
    except ValidationError as e:
        return _fail(out, f"ClientError: {e.message or e}", 2)
    except Exception as e:  # noqa: BLE001 - the job's contract: every failure becomes a one-line reason
        return _fail(out, f"ServerError: {type(e).__name__}: {e}", 1)
    v = report.verification
    print(f"compiled {report.framework} with {report.converter}: max abs diff {v['max_abs_diff']:.3g} "
          f"(atol {v['atol']:g}, rtol {v['rtol']:g}) -> {out / 'model.onnx'}")
    return 0


def _fail(out: Path, reason: str, status: int) -> int:
    line = " ".join(reason.split())[:1024]
    (out / "failure").write_text(line + "\n")
    print(line, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
