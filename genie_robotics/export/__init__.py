"""ONNX export of a checkpoint (the graphs ONNX Runtime runs in `sim.onnx_backend`)."""
