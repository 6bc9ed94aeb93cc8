"""The `package` concern: versioned synthetic sets, their cards and lineage, Hub publish/pull.

- `stage.STAGE`: the package stage (stages/package.py and `factory package`)
- `build.package_set`: gate-accepted samples -> datasets/synthetic/<name> (Hub dataset layout)
- `card.render_card`: the dataset card (README.md), every sentence from lineage.json's facts
- `lineage`: lineage.json contents, the per-image chain, and its readable rendering
- `verify.verify_set` / `verify.check_set`: every claim of a set against its data, and
  its signature (`signing`: optional Ed25519 signature of lineage.json)
- `hub.publish` / `hub.pull_set` / `hub.load_set`: tagged versions on the Hub and back
- `croissant`, `licence`, `audit`, `remote`: Croissant description, source-terms checks,
  the audit page and DVC remotes (distribution team)
"""
