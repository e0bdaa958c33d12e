"""Serving a trained SVG model: SavedModel export and a TF Serving client.

- `signatures`: `SVGServingModule`, the `tf.Module` with the exported
  signatures and their input checks, and the signature names;
- `export_options`: the export's settings (`ExportOptions`), without
  TensorFlow, for the binary's flags;
- `export_lib`: workdir -> `BASE/<model_name>/<version>/`, verified on reload
  (the binary is `svgpl-export`, `svgpl_tf/export.py`);
- `client_lib`: REST and gRPC requests to a running TF Serving, samples as a
  GIF (the binary is `svgpl-client`, `svgpl_tf/client.py`).

`client_lib` imports nothing but `signatures` from the package, so the client
loads neither the model nor the training code. What a deployment needs
besides the package (TF Serving's `models.config`, the server and docker
instructions) is in the repository's `export/` folder.
"""
