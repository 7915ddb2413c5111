<?php
// t/reuse/08: the target of redirect.php.
header('Content-Type: text/plain');
echo "NEW-RAN\n";
