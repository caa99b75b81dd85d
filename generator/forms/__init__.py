"""Participation forms (参与表单): definitions, rules, pages, paper, schemas and results."""
