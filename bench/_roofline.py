"""Decode roofline: batch-1 decoding reads every language-model weight once per token, so its ceiling is
peak memory bandwidth / bytes of weights read per token."""

import torch

# nominal peak HBM bandwidth (bytes/s) by device-name fragment, most specific first
BANDWIDTH = {"H200": 4.8e12, "H100 PCIe": 2.0e12, "H100 NVL": 3.9e12, "H100": 3.35e12, "GH200": 4.0e12,
             "B200": 8.0e12, "A100-SXM4-80GB": 2.04e12, "A100": 1.56e12, "L40": 0.864e12, "4090": 1.008e12,
             "A10G": 0.6e12, "L4": 0.3e12}


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def peak_bandwidth(device: torch.device, override_gb_s: float | None = None) -> tuple[float | None, str]:
    """(bytes/s, where the figure comes from); None when the card is not in the table and none was given."""
    if override_gb_s:
        return override_gb_s * 1e9, "--bandwidth"
    name = device_name(device)
    for key, value in BANDWIDTH.items():
        if key in name:
            return value, f"table ({key})"
    return None, f"unknown device {name!r}: pass --bandwidth GB/s"


def weight_bytes_per_token(model) -> int:
    """Bytes of weights one decode step reads: every parameter, except an input-embedding table that is not
    also the output head (a lookup reads one row of it)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    if head is None or head.weight.data_ptr() != embed.data_ptr():
        total -= embed.numel() * embed.element_size()
    return total
