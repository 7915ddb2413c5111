<?php
// t/reuse/11, 12: the vhosts' ErrorDocument, itself a script of the pool.
// An ErrorDocument script sets its status itself: the one that sent here.
$code = isset($_SERVER['REDIRECT_STATUS']) ? (int) $_SERVER['REDIRECT_STATUS'] : 0;
http_response_code($code >= 400 ? $code : 404);
header('Content-Type: text/plain');
echo "ERRDOC-RAN\n";
