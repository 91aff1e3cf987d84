input=$(cat)
case "$input" in *'"observation":2'*) echo '{"class":"terminal_fail","fingerprints":["db/locked"],"reason":"lock held by job 7"}' ;; *) echo retryable ;; esac
