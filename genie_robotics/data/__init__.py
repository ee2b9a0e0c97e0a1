"""Robot video: RLDS / Open X-Embodiment reading and writing, MuJoCo-rendered episodes."""
