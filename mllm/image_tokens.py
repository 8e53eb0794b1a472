"""Splice vision features into a token sequence at image-placeholder positions (LLaVA-style).

Legacy LLaVA code (LLMGA, LISA) marks the image with the id IMAGE_TOKEN_INDEX (-200) in input_ids; the
language model sees the projected CLIP patch features there instead. LISA needs to map token positions
back to the spliced sequence (its [SEG] hidden states sit after ~255 extra image positions), so the
splice returns that map too.
"""

import torch

IMAGE_TOKEN_INDEX = -200


def splice_image_features(input_ids: torch.Tensor, embed_tokens, image_features: list[torch.Tensor]):
    """input_ids [T] with k placeholders; image_features: k tensors [N_i, H] in order.

    Returns (inputs_embeds [T - k + sum N_i, H], index_map [T]): index_map[t] is where token t landed
    (for a placeholder: the first of its image positions).
    """
    if input_ids.dim() != 1:
        raise ValueError(f"input_ids must be 1-D, got shape {tuple(input_ids.shape)}")
    placeholders = (input_ids == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
    if len(placeholders) != len(image_features):
        raise ValueError(f"{len(placeholders)} image placeholders but {len(image_features)} images")
    text_ids = input_ids.clamp(min=0)
    text_embeds = embed_tokens(text_ids)
    pieces, index_map, cursor, offset = [], torch.empty_like(input_ids), 0, 0
    for position, features in zip(placeholders, image_features):
        pieces.append(text_embeds[cursor:position])
        index_map[cursor:position] = torch.arange(cursor, position, device=input_ids.device) + offset
        index_map[position] = position + offset
        pieces.append(features.to(text_embeds.dtype))
        offset += features.shape[0] - 1
        cursor = position + 1
    pieces.append(text_embeds[cursor:])
    index_map[cursor:] = torch.arange(cursor, input_ids.shape[0], device=input_ids.device) + offset
    return torch.cat(pieces, dim=0), index_map
