<?php
// t/reuse/17: what this request got: its method, CONTENT_LENGTH and how
// many body bytes it could read, and the status it answers.
$code = isset($_SERVER['REDIRECT_STATUS']) ? (int) $_SERVER['REDIRECT_STATUS'] : 200;
http_response_code($code >= 400 ? $code : 200);
header('Content-Type: text/plain');
printf("method=%s cl=%s len=%d\n", $_SERVER['REQUEST_METHOD'],
       $_SERVER['CONTENT_LENGTH'] ?? '-', strlen(file_get_contents('php://input')));
