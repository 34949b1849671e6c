"""The DAG files: declarations of flows only (their steps are the operators and sensors in plugins/). A package
so that the import contracts in pyproject.toml can check them."""
