"""A long, sentence-structured image prompt (what an MLLM writes) for long-prompt tests and benches."""

SENTENCES = [
    "A lone lighthouse keeper in a yellow raincoat stands on the rocky shore of a northern island.",
    "Behind him the whitewashed tower rises against a bruised purple sky, its lamp just lit.",
    "Waves crash over black basalt, throwing white spray that catches the last orange light.",
    "A small wooden boat is pulled up on the pebbles, its red paint faded and peeling.",
    "Seabirds wheel above the cliffs, and far out at sea a cargo ship crosses the horizon.",
    "The keeper holds a brass lantern in his left hand and a coil of rope over his shoulder.",
    "His grey beard is wet with rain, and his eyes are fixed on the darkening water.",
    "Tufts of pale grass bend in the wind along the path that climbs to the tower door.",
    "The scene is painted in a loose impressionist style with thick visible brushstrokes.",
    "Cinematic composition, dramatic lighting, high detail, muted palette with warm accents.",
    "In the foreground, wet stones glisten and a tide pool reflects the glowing lamp.",
    "A weathered wooden sign near the path reads North Point in faded white letters.",
    "Mist drifts low over the water, softening the outline of a second island far away.",
    "The air feels cold and heavy, and the first stars are beginning to show overhead.",
    "Rain streaks the lantern glass and the light trembles in the wind off the sea.",
    "Far below, the harbour lights of a small village flicker on one by one.",
]
