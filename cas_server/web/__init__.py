"""Flask blueprints and web plumbing. Views are thin: parse, call the core, render."""
