#!/bin/sh
echo "Hello from a cbuild image!"
cat /app/built.txt
echo "message: $(cat /app/message.txt)"
