"""The sans-I/O core: a token, keys, the time and configuration in; claims or an error out.

Nothing here performs I/O or reads the clock: ``now`` is always passed in.
"""
