
FROM python:3.11-slim

ENV LC_ALL C.UTF-8
ENV LANG C.UTF-8
ENV LANGUAGE C.UTF-8

ENV SHELL /bin/bash
WORKDIR /code

COPY requirements.txt /code
RUN pip install --no-cache-dir -r requirements.txt
