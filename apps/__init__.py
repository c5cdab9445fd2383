"""Gradio demos: one app per pipeline (each runs alone) and the suite that puts them in tabs."""
