#!/bin/sh
# One HTTP exchange of a failing example app (FAIL_AFTER): run by `nc -ll -e` per
# connection. /health still answers 200; everything else answers a real 500.
read -r _method path _version
while read -r line; do
    [ "${line%?}" = "" ] && break  # the blank line (CR LF) that ends the headers
done
if [ "${path%%\?*}" = /health ]; then
    status="200 OK" body="ok"
else
    status="500 Internal Server Error" body="failing as asked (FAIL_AFTER)"
fi
printf 'HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$status" "${#body}" "$body"
