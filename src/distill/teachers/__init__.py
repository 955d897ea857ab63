"""Teachers: one async chat interface (`Teacher`), several backends."""

from distill.teachers.base import Completion, Message, Teacher

__all__ = ["Completion", "Message", "Teacher"]
