"""genie_robotics: the Genie world model for robot video."""
