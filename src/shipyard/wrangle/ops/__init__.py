"""The operators of a data flow, each a plain pandas function: ``fn(*frames, trained_parameters=None,
**parameters) -> {output_name: DataFrame}`` (the shape of AWS's exported Data Wrangler code).

Every module here imports only the standard library, numpy and pandas (and ``_common``), never the rest of
Shipyard: the Python export (:mod:`shipyard.wrangle.export_python`) copies their source into a standalone
script, so the script and the engine run the very same code."""
