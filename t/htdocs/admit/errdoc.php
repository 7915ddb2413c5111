<?php
// t/reuse/08: the vhost's ErrorDocument 404, itself a script of the pool.
http_response_code(404);
header('Content-Type: text/plain');
echo "ERRDOC-RAN\n";
