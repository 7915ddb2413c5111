<?php
// Writes a line to the FastCGI stderr stream (php-fpm forwards error_log()
// output there) and answers normally.
$id = isset($_GET['id']) ? preg_replace('/[^A-Za-z0-9_-]/', '', $_GET['id']) : 'none';
error_log("vhostfcgi stderr test marker $id");
header('Content-Type: text/plain');
echo "ok\n";
