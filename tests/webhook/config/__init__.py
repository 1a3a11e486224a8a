"""The config models and loader: `tocsin check`, strict errors, env overrides, the docs' examples."""
