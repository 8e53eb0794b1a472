"""ComfyUI adapters: the only layer of GenAssist that imports ``comfy``.

Every public module here (no leading underscore) is a capability and exports ``NODES``, its V3 node classes
(``io.ComfyNode``, see _types.py for the pinned API); ``_``-prefixed modules are shared glue.
"""
