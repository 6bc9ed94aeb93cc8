"""One module per public dataset's on-disk layout; each turns a cohort into a `LayoutPlan`."""
