"""The names of what can run a world model's networks (`sim.world_model.load_world_model`).

Names only, so option declarations and the ROS node's parameters read them without importing torch.
"""

BACKENDS = ("auto", "onnx", "torch", "torch-compiled")
