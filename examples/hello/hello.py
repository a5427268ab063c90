name = "Gage"

print(f"Hello {name}")
