"""`distill label`: a teacher labels texts (classification or entity spans) against a JSON schema; compact
students (scikit-learn, a tiny transformer built here) are trained on the labels and compared with gold."""
