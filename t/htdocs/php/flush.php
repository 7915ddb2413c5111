<?php
// Three lines one second apart, each flushed to the web server at once.
header('Content-Type: text/plain');
$n = isset($_GET['n']) ? (int) $_GET['n'] : 3;
for ($i = 1; $i <= $n; $i++) {
    echo "tick $i ", microtime(true), "\n";
    flush();
    if ($i < $n) {
        sleep(1);
    }
}
