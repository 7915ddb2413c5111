<?php
// t/reuse/17: sleeps ?ms= milliseconds (default 0), then a CGI local
// redirect (status 200 with a local Location: httpd serves the target)
// to ?to= (default /reuse/echo-body.php).
$ms = isset($_GET['ms']) ? (int) $_GET['ms'] : 0;
usleep($ms * 1000);
$to = $_GET['to'] ?? '/reuse/echo-body.php';
header('Location: ' . ($to[0] === '/' ? $to : '/reuse/echo-body.php'), true, 200);
