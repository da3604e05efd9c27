"""mmpretrain adapter (model builder helpers; the registered wrapper and hooks come with the mmpretrain issue)."""
