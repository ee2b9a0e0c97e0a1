"""ONNX export of the world model and an ONNX Runtime world model with the same interface."""
