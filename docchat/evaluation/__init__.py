"""Evaluation: a use of docchat, not part of answering.

``qa`` reads the QA file (questions with known sources and answers), ``retrieval`` measures search
on it (recall, MRR), ``answers`` the chat engine's answers (keywords, abstention, citations).
"""
