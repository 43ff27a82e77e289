# tests/integration build rules (owned by the area's author)
