<?php
// t/reuse: a minimal answer naming the worker that gave it.
header('Content-Type: text/plain');
echo "hello from pid ", getmypid(), "\n";
