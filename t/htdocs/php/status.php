<?php
http_response_code(isset($_GET['code']) ? (int) $_GET['code'] : 418);
header('Content-Type: text/plain');
header('X-Teapot: short and stout');
echo "I am a teapot\n";
