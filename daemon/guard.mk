# daemon build rules (owned by the area's author)
