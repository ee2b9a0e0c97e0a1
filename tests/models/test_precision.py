"""bf16 autocast (the GPU training setting) must give finite losses close to fp32."""
import torch


def test_losses_under_bf16_autocast_are_finite_and_close_to_fp32(tiny_genie):
    frames = torch.randint(0, 256, (2, 4, 64, 64, 3), dtype=torch.uint8)
    for stage in ("tokenizer", "lam", "dynamics"):
        ref = tiny_genie.stage_loss(stage, frames, torch.Generator().manual_seed(0))["loss"].item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = tiny_genie.stage_loss(stage, frames, torch.Generator().manual_seed(0))["loss"]
        assert torch.isfinite(low)
        assert abs(low.item() - ref) <= 0.05 * abs(ref), (stage, low.item(), ref)
