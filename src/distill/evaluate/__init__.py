"""Evaluations of trained students beyond task quality: did the teacher's safety behaviour come along?"""
