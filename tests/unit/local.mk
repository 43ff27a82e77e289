# tests/unit build rules (owned by the area's author)
