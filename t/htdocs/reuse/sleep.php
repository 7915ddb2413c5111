<?php
// t/reuse: sleeps ?ms= milliseconds (default 10000), then answers.
header('Content-Type: text/plain');
$ms = isset($_GET['ms']) ? (int) $_GET['ms'] : 10000;
usleep($ms * 1000);
echo "slept $ms ms in pid ", getmypid(), "\n";
