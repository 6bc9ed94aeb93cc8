"""The `package` concern: versioned synthetic sets, their cards and lineage, Hub publish/pull.

- `build.package_set`: gate-accepted samples -> datasets/synthetic/<name> (Hub dataset layout)
- `card.render_card`: the dataset card (README.md) from lineage.json (+ benchmark verdict)
- `lineage`: lineage.json contents, the per-image chain, and its readable rendering
- `verify.verify_set`: recompute every hash of a set and list what differs
- `hub.publish` / `hub.download_set` / `hub.load_set`: tagged versions on the Hub and back
"""
