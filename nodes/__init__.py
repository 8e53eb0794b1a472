"""ComfyUI adapters: the only layer of GenAssist that imports ``comfy``.

Every public module here (no leading underscore) is a capability and exports
``NODE_CLASS_MAPPINGS`` and ``NODE_DISPLAY_NAME_MAPPINGS``; ``_``-prefixed modules are shared glue.
"""
