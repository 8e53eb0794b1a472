"""SAM published in transformers' SamModel layout (facebook/sam-vit-*/model.safetensors): a tiny SamModel saved
by transformers itself loads through the pack's loader and predicts the same masks as transformers does
with the same weights."""

import torch

from genassist.segmentation.sam_hf_layout import from_transformers_layout, is_transformers_layout
from genassist.segmentation.sam_model import read_weights, sam_from_state_dict
from genassist.segmentation.sam_processing import preprocess
from tiny_models import sam as tiny_sam

SPEC = tiny_sam.TINY_SPEC


def tiny_sam_model():
    """A transformers SamModel shaped like the pack's tiny SAM, every tensor filled with seeded noise."""
    from transformers import SamConfig, SamModel

    vision = dict(hidden_size=SPEC["embed_dim"], num_hidden_layers=SPEC["depth"], num_attention_heads=SPEC["num_heads"],
                  global_attn_indexes=list(SPEC["global_attn_indexes"]), window_size=SPEC["window_size"],
                  patch_size=SPEC["patch_size"], image_size=SPEC["image_size"],
                  mlp_dim=int(SPEC["embed_dim"] * SPEC["mlp_ratio"]), output_channels=SPEC["prompt_dim"],
                  num_pos_feats=SPEC["prompt_dim"] // 2)
    prompt = dict(hidden_size=SPEC["prompt_dim"], image_size=SPEC["image_size"], patch_size=SPEC["patch_size"],
                  mask_input_channels=SPEC["mask_in_chans"])
    decoder = dict(hidden_size=SPEC["prompt_dim"], num_hidden_layers=SPEC["decoder_depth"],
                   mlp_dim=SPEC["decoder_mlp_dim"], iou_head_depth=SPEC["iou_head_depth"],
                   iou_head_hidden_dim=SPEC["iou_head_hidden_dim"],
                   num_multimask_outputs=SPEC["num_multimask_outputs"])
    model = SamModel(SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)).eval()
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for tensor in list(model.state_dict(keep_vars=True).values()):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
        shared = model.shared_image_embedding.positional_embedding
        model.prompt_encoder.shared_embedding.positional_embedding.copy_(shared)  # tied in SamModel
    return model


def photo_pixels():
    from skimage import data as skimage_data
    return skimage_data.astronaut()[::4, ::4].copy()  # 128 x 128 RGB


def test_a_saved_transformers_sam_loads_and_predicts_what_transformers_predicts(tmp_path):
    model = tiny_sam_model()
    model.save_pretrained(tmp_path)  # transformers' own on-disk format: model.safetensors
    state = read_weights(str(tmp_path / "model.safetensors"))
    assert not is_transformers_layout(state) and "image_encoder.blocks.0.norm1.weight" in state
    sam, spec = sam_from_state_dict(state)  # strict: every tensor has its place
    assert spec == tiny_sam.tiny_spec()

    pixels, resized = preprocess(photo_pixels(), SPEC["image_size"])
    box = torch.tensor([[200.0, 300.0, 700.0, 900.0]])  # in the 1024-px input frame
    with torch.no_grad():
        embedding = sam.image_encoder(pixels[None])
        sparse, dense = sam.prompt_encoder(points=None, boxes=box, masks=None)
        ours, our_iou = sam.mask_decoder(image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                                         sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                         multimask_output=False)
        theirs = model(pixel_values=pixels[None], input_boxes=box[None], multimask_output=False)
    assert theirs.pred_masks.shape[-2:] == ours.shape[-2:]
    assert torch.allclose(ours.reshape(-1), theirs.pred_masks.reshape(-1), atol=1e-4), \
        float((ours.reshape(-1) - theirs.pred_masks.reshape(-1)).abs().max())
    assert torch.allclose(our_iou.reshape(-1), theirs.iou_scores.reshape(-1), atol=1e-4)
    assert ((ours > 0).float().mean() - 0.5).abs() < 0.5  # a real mask, neither empty nor full


def test_mapping_covers_every_key_and_keeps_tensors():
    hf = tiny_sam_model().state_dict()
    mapped = from_transformers_layout(hf)
    official = tiny_sam.state_dict()
    assert set(mapped) == set(official)
    assert all(mapped[k].shape == official[k].shape for k in official)
    prefixed = from_transformers_layout({"sam." + k: v for k, v in hf.items()})
    assert set(prefixed) == set(official)
    without_tied = {k: v for k, v in hf.items() if k != "shared_image_embedding.positional_embedding"}
    assert set(from_transformers_layout(without_tied)) == set(official)
