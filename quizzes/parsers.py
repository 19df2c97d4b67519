"""Quizzes' API parsers: the site's own (courseapp/parsers.py), which answers a body nested too
deeply or one that is not a JSON object with a 400."""

from courseapp.parsers import PARSERS, ObjectJSONParser

__all__ = ["PARSERS", "ObjectJSONParser"]
