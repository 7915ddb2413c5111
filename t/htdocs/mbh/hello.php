<?php
// Exists so that the script check lets /mbh/hello.php through to a pool on
// fcgi-misbehave, which answers with its "hello" scenario (the file name
// without .php); PHP itself never runs it in the tests.
header('Content-Type: text/plain');
echo "hello.php is for fcgi-misbehave\n";
