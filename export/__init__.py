"""Export of a trained SVG model as a TF Serving SavedModel, and a client.

- `serving_module`: the `tf.Module` with the exported signatures and checks;
- `export_lib`: workdir -> `BASE/<model_name>/<version>/`, verified on reload;
- `export_savedmodel`: the export binary;
- `client`: REST and gRPC requests to a running TF Serving, samples as a GIF.

`client` imports neither `svgpl_tf` nor the export library, so it runs where
only `tensorflow-serving-api` (and Pillow) are installed.
"""
