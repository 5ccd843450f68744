-- expect: sandbox_os.lua:2: error: attempt to index a nil value (global 'os')
os.execute("touch escaped")
