"""ONNX export of a pipeline's deployable network: the generator, or the semi-supervised classifier
(`pip install -e .[export]` brings the exporter)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .errors import UserError


def export_onnx(weights: str | Path, path: Path) -> Path:
    """Write the exported network of `weights` to `path`, with a dynamic batch size."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise UserError("ONNX export needs the exporter packages: pip install -e '.[export]'") from None
    from .weights import load_weights

    loaded = load_weights(weights)
    try:
        name, example = loaded.pipeline.export_example(loaded.options)
    except NotImplementedError as error:  # a pipeline with nothing to deploy
        raise UserError(str(error)) from None
    network = loaded.networks[name].eval()
    # The batch size is dynamic; image sizes stay as exported (networks constrain them to multiples).
    dynamic = ({0: torch.export.Dim("batch", min=1, max=1024)},)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=dynamic,
                                    input_names=["input"], output_names=["output"], verbose=False)
    program.save(str(path), external_data=False)
    return path
